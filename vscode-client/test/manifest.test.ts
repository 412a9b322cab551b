import './vscodeAlias';
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EXPLAIN_THIS_COMMAND, SERVER_EXPLAIN_COMMAND } from '../src/explain';
import { RESTART_COMMAND } from '../src/extension';
import { LANGUAGES } from '../src/server';
import { DEFAULT_SETTINGS } from '../src/settings';
import { SHOW_STATUS_COMMAND } from '../src/status';

const ROOT = path.join(__dirname, '..', '..');
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const properties: Record<string, { default: unknown; scope?: string; description?: string; type?: string }> =
    manifest.contributes.configuration.properties;

describe('package.json', () => {
    it('declares every setting the code reads, with the same defaults, a type, a scope and a description', () => {
        const expected: Record<string, unknown> = {
            'codepager.enable': DEFAULT_SETTINGS.enable,
            'codepager.interpreter': DEFAULT_SETTINGS.interpreter,
            'codepager.modelPath': DEFAULT_SETTINGS.modelPath,
            'codepager.device': DEFAULT_SETTINGS.device,
            'codepager.contextBudget': DEFAULT_SETTINGS.contextBudget,
            'codepager.maxTokens': DEFAULT_SETTINGS.maxTokens,
            'codepager.debounceMs': DEFAULT_SETTINGS.debounceMs,
            'codepager.cpuThreads': DEFAULT_SETTINGS.cpuThreads,
            'codepager.trace.server': DEFAULT_SETTINGS.traceServer,
        };
        assert.deepEqual(Object.keys(properties).sort(), Object.keys(expected).sort());
        for (const [key, value] of Object.entries(expected)) {
            assert.equal(properties[key].default, value, key);
            assert.ok(properties[key].type && properties[key].scope && properties[key].description, key);
        }
    });

    it('contributes the client commands, never the server command id', () => {
        const ids = manifest.contributes.commands.map((c: { command: string }) => c.command).sort();
        assert.deepEqual(ids, [EXPLAIN_THIS_COMMAND, RESTART_COMMAND, SHOW_STATUS_COMMAND].sort());
        assert.ok(!ids.includes(SERVER_EXPLAIN_COMMAND));
        assert.equal(manifest.contributes.menus['editor/context'][0].command, EXPLAIN_THIS_COMMAND);
    });

    it('activates on startup and on every indexed language', () => {
        assert.deepEqual(manifest.activationEvents, ['onStartupFinished', ...LANGUAGES.map((l) => `onLanguage:${l}`)]);
    });

    it('points main at a bundle that loads and exports activate/deactivate', () => {
        const bundle = path.join(ROOT, manifest.main);
        assert.ok(existsSync(bundle), `${manifest.main} missing: run npm run bundle`);
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const extension = require(bundle);
        assert.equal(typeof extension.activate, 'function');
        assert.equal(typeof extension.deactivate, 'function');
    });
});
