/**
 * Which Python runs the server: the `codepager.interpreter` setting, else the interpreter selected in
 * the Python extension (ms-python.python), else `python3`.
 */
import type { Disposable, Uri } from 'vscode';
import { getExtension } from './vscodeapi';

export const PYTHON_EXTENSION_ID = 'ms-python.python';
export const FALLBACK_PYTHON = process.platform === 'win32' ? 'python' : 'python3';

export type InterpreterSource = 'setting' | 'python-extension' | 'default';

export interface InterpreterChoice {
    command: string;
    source: InterpreterSource;
}

export function chooseInterpreter(setting: string, pythonExtensionExecutable: string | undefined): InterpreterChoice {
    if (setting.trim() !== '') {
        return { command: setting.trim(), source: 'setting' };
    }
    if (pythonExtensionExecutable !== undefined && pythonExtensionExecutable.trim() !== '') {
        return { command: pythonExtensionExecutable, source: 'python-extension' };
    }
    return { command: FALLBACK_PYTHON, source: 'default' };
}

/** The part of the Python extension's public API we use (see @vscode/python-extension). */
interface PythonExtensionApi {
    environments?: {
        getActiveEnvironmentPath(resource?: Uri): { id: string; path: string };
        resolveEnvironment(
            environment: { id: string; path: string } | string,
        ): Promise<{ executable: { uri?: Uri } } | undefined>;
        onDidChangeActiveEnvironmentPath(listener: () => void): Disposable;
    };
    settings?: {
        getExecutionDetails(resource?: Uri): { execCommand: string[] | undefined };
    };
}

async function pythonExtensionApi(): Promise<PythonExtensionApi | undefined> {
    const extension = getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
    if (extension === undefined) {
        return undefined;
    }
    return extension.isActive ? extension.exports : await extension.activate();
}

/** The Python extension's active interpreter for `resource`, or undefined without that extension. */
export async function pythonExtensionExecutable(resource?: Uri): Promise<string | undefined> {
    const api = await pythonExtensionApi();
    if (api?.environments !== undefined) {
        const active = api.environments.getActiveEnvironmentPath(resource);
        const resolved = await api.environments.resolveEnvironment(active);
        return resolved?.executable.uri?.fsPath ?? active.path;
    }
    const execCommand = api?.settings?.getExecutionDetails(resource).execCommand;
    return execCommand !== undefined && execCommand.length === 1 ? execCommand[0] : undefined;
}

export async function onDidChangePythonInterpreter(listener: () => void): Promise<Disposable | undefined> {
    const api = await pythonExtensionApi();
    return api?.environments?.onDidChangeActiveEnvironmentPath(listener);
}
