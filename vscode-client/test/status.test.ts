import './vscodeAlias';
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { modelName, nextProgress, statusDetails, statusView } from '../src/status';

describe('statusView', () => {
    it('shows indexing progress with percentage and message', () => {
        const view = statusView({
            phase: 'running',
            progress: { title: 'Indexing', message: '120/400 files', percentage: 30.4 },
            model: 'qwen2.5-coder-0.5b',
        });
        assert.equal(view.text, '$(sync~spin) CodePager 30%');
        assert.equal(view.tooltip, 'CodePager: Indexing: 120/400 files\nModel: qwen2.5-coder-0.5b');
        assert.equal(view.isError, false);
    });

    it('shows ready with the model, errors as errors', () => {
        assert.equal(statusView({ phase: 'running', model: 'm' }).tooltip, 'CodePager: ready\nModel: m');
        const error = statusView({ phase: 'error', error: 'no module named codepager', interpreter: '/usr/bin/python3' });
        assert.equal(error.isError, true);
        assert.equal(error.tooltip, 'CodePager: no module named codepager\nPython: /usr/bin/python3');
        assert.equal(statusView({ phase: 'disabled' }).text, '$(circle-slash) CodePager');
    });
});

describe('nextProgress', () => {
    it('begins, reports (keeping what a report leaves out) and ends', () => {
        let progress = nextProgress(undefined, { kind: 'begin', title: 'Indexing', percentage: 0 });
        assert.deepEqual(progress, { title: 'Indexing', message: undefined, percentage: 0 });
        progress = nextProgress(progress, { kind: 'report', message: 'a.py' });
        assert.deepEqual(progress, { title: 'Indexing', message: 'a.py', percentage: 0 });
        progress = nextProgress(progress, { kind: 'report', percentage: 50 });
        assert.deepEqual(progress, { title: 'Indexing', message: 'a.py', percentage: 50 });
        assert.equal(nextProgress(progress, { kind: 'end' }), undefined);
    });
});

describe('modelName', () => {
    it('finds the model as a string, an object or under engine', () => {
        assert.equal(modelName({ model: 'm1' }), 'm1');
        assert.equal(modelName({ model: { name: 'm2', device: 'cpu' } }), 'm2');
        assert.equal(modelName({ engine: { model: '/models/m3' } }), '/models/m3');
        assert.equal(modelName({ files: 3 }), undefined);
        assert.equal(modelName(null), undefined);
    });
});

describe('statusDetails', () => {
    it('flattens nested objects into key paths', () => {
        assert.deepEqual(statusDetails({ index: { files: 3, languages: ['python'] }, model: 'm', ready: true }), [
            'index.files: 3',
            'index.languages: ["python"]',
            'model: m',
            'ready: true',
        ]);
        assert.deepEqual(statusDetails('ok'), ['status: ok']);
    });

    it('caps very long answers', () => {
        const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]));
        const lines = statusDetails(many);
        assert.equal(lines.length, 61);
        assert.equal(lines[60], '… 40 more');
    });
});
