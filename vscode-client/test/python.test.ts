import './vscodeAlias';
import * as assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import * as vscode from 'vscode';
import {
    FALLBACK_PYTHON,
    PYTHON_EXTENSION_ID,
    chooseInterpreter,
    pythonExtensionExecutable,
} from '../src/python';
import { fake } from './fixtures';

describe('chooseInterpreter', () => {
    it('prefers the setting', () => {
        assert.deepEqual(chooseInterpreter('/opt/py/bin/python', '/venv/bin/python'), {
            command: '/opt/py/bin/python',
            source: 'setting',
        });
    });

    it('then the Python extension', () => {
        assert.deepEqual(chooseInterpreter('  ', '/venv/bin/python'), { command: '/venv/bin/python', source: 'python-extension' });
    });

    it('then python3', () => {
        assert.deepEqual(chooseInterpreter('', undefined), { command: FALLBACK_PYTHON, source: 'default' });
        assert.deepEqual(chooseInterpreter('', ''), { command: FALLBACK_PYTHON, source: 'default' });
    });
});

describe('pythonExtensionExecutable', () => {
    afterEach(() => fake.extensions.clear());

    it('is undefined without the Python extension', async () => {
        assert.equal(await pythonExtensionExecutable(), undefined);
    });

    it('resolves the active environment through the environments API', async () => {
        const api = {
            environments: {
                getActiveEnvironmentPath: () => ({ id: 'venv', path: '/repo/.venv' }),
                resolveEnvironment: async (env: { path: string }) => ({
                    executable: { uri: vscode.Uri.file(`${env.path}/bin/python`) },
                }),
                onDidChangeActiveEnvironmentPath: () => new vscode.Disposable(() => undefined),
            },
        };
        fake.extensions.set(PYTHON_EXTENSION_ID, { isActive: false, activate: async () => api, exports: undefined });
        assert.equal(await pythonExtensionExecutable(), '/repo/.venv/bin/python');
    });

    it('falls back to the older execution-details API', async () => {
        const api = { settings: { getExecutionDetails: () => ({ execCommand: ['/usr/bin/python3.12'] }) } };
        fake.extensions.set(PYTHON_EXTENSION_ID, { isActive: true, exports: api });
        assert.equal(await pythonExtensionExecutable(), '/usr/bin/python3.12');
    });
});
