import './vscodeAlias';
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
    DEFAULT_SETTINGS,
    expandPath,
    reactionToChange,
    resolveSettings,
    serverConfiguration,
} from '../src/settings';

const PATHS = { home: '/home/ada', workspaceFolder: '/work/repo' };

function reader(values: Record<string, unknown>): (key: string) => unknown {
    return (key) => values[key];
}

describe('resolveSettings', () => {
    it('gives the defaults when nothing is set', () => {
        const { settings, problems } = resolveSettings(reader({}), PATHS);
        assert.deepEqual(settings, DEFAULT_SETTINGS);
        assert.deepEqual(problems, []);
    });

    it('takes valid values and expands paths', () => {
        const { settings, problems } = resolveSettings(
            reader({
                enable: false,
                interpreter: ' ~/venv/bin/python ',
                modelPath: '${workspaceFolder}/models/coder',
                device: 'cuda:1',
                contextBudget: 4096,
                maxTokens: 128,
                debounceMs: 0,
                cpuThreads: 1,
                'trace.server': 'verbose',
            }),
            PATHS,
        );
        assert.deepEqual(problems, []);
        assert.deepEqual(settings, {
            enable: false,
            interpreter: '/home/ada/venv/bin/python',
            modelPath: '/work/repo/models/coder',
            device: 'cuda:1',
            contextBudget: 4096,
            maxTokens: 128,
            debounceMs: 0,
            cpuThreads: 1,
            traceServer: 'verbose',
        });
    });

    it('replaces each invalid value by its default and names the problem', () => {
        const { settings, problems } = resolveSettings(
            reader({
                device: 'gpu', maxTokens: 0, contextBudget: 1.5, enable: 'yes', 'trace.server': 'loud', modelPath: 7,
                cpuThreads: -1,
            }),
            PATHS,
        );
        assert.equal(settings.device, 'auto');
        assert.equal(settings.maxTokens, DEFAULT_SETTINGS.maxTokens);
        assert.equal(settings.contextBudget, DEFAULT_SETTINGS.contextBudget);
        assert.equal(settings.enable, true);
        assert.equal(settings.traceServer, 'off');
        assert.equal(settings.modelPath, '');
        assert.equal(settings.cpuThreads, 0);
        assert.equal(problems.length, 7);
        assert.ok(problems.some((p) => p.startsWith('codepager.device: "gpu"')));
        assert.ok(problems.some((p) => p.startsWith('codepager.maxTokens: 0 is not an integer in [1, 4096]')));
        assert.ok(problems.every((p) => !p.includes('\n')));
    });
});

describe('expandPath', () => {
    it('expands ~, ${userHome} and ${workspaceFolder}', () => {
        assert.equal(expandPath('~', PATHS), '/home/ada');
        assert.equal(expandPath('~/m', PATHS), '/home/ada/m');
        assert.equal(expandPath('${userHome}/m', PATHS), '/home/ada/m');
        assert.equal(expandPath('${workspaceFolder}/.venv/bin/python', PATHS), '/work/repo/.venv/bin/python');
        assert.equal(expandPath('/abs/~x', PATHS), '/abs/~x');
    });

    it('leaves ${workspaceFolder} alone without a folder', () => {
        assert.equal(expandPath('${workspaceFolder}/x', { home: '/h' }), '${workspaceFolder}/x');
    });
});

describe('serverConfiguration', () => {
    it('sends only the server keys, camelCase, under codepager; defaults chosen by the server as null', () => {
        assert.deepEqual(serverConfiguration({ ...DEFAULT_SETTINGS, interpreter: '/usr/bin/python3' }), {
            codepager: {
                modelPath: null, device: null, contextBudget: 1536, maxTokens: 64, debounceMs: 75, cpuThreads: null,
            },
        });
        const chosen = serverConfiguration({ ...DEFAULT_SETTINGS, modelPath: '/m', device: 'cuda:0', cpuThreads: 2 })
            .codepager;
        assert.equal(chosen.modelPath, '/m');
        assert.equal(chosen.device, 'cuda:0');
        assert.equal(chosen.cpuThreads, 2);
    });
});

describe('reactionToChange', () => {
    const affecting = (...keys: string[]) => (section: string) =>
        keys.some((key) => key === section || key.startsWith(section + '.') || section.startsWith(key + '.'));

    it('restarts for the interpreter or enable', () => {
        assert.equal(reactionToChange(affecting('codepager.interpreter')), 'restart');
        assert.equal(reactionToChange(affecting('codepager.enable', 'codepager.maxTokens')), 'restart');
    });

    it('updates the running server for its own settings', () => {
        assert.equal(reactionToChange(affecting('codepager.maxTokens')), 'update');
        assert.equal(reactionToChange(affecting('codepager.modelPath')), 'update');
    });

    it('ignores trace and other sections', () => {
        assert.equal(reactionToChange(affecting('codepager.trace.server')), 'none');
        assert.equal(reactionToChange(affecting('editor.fontSize')), 'none');
    });
});
