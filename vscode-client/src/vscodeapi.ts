/**
 * The few parts of the `vscode` API the extension calls, behind plain functions so that tests
 * (which replace the `vscode` module with a small fake) and readers see the whole surface at once.
 */
import * as vscode from 'vscode';

export function getConfiguration(section: string, scope?: vscode.ConfigurationScope): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(section, scope);
}

export function onDidChangeConfiguration(
    listener: (event: vscode.ConfigurationChangeEvent) => void,
): vscode.Disposable {
    return vscode.workspace.onDidChangeConfiguration(listener);
}

export function workspaceFolders(): readonly vscode.WorkspaceFolder[] {
    return vscode.workspace.workspaceFolders ?? [];
}

export function createOutputChannel(name: string): vscode.LogOutputChannel {
    return vscode.window.createOutputChannel(name, { log: true });
}

export function createStatusBarItem(id: string, priority: number): vscode.StatusBarItem {
    return vscode.window.createStatusBarItem(id, vscode.StatusBarAlignment.Right, priority);
}

export function createWebviewPanel(viewType: string, title: string): vscode.WebviewPanel {
    return vscode.window.createWebviewPanel(
        viewType,
        title,
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: false, enableFindWidget: true },
    );
}

export function registerCommand(id: string, handler: (...args: unknown[]) => unknown): vscode.Disposable {
    return vscode.commands.registerCommand(id, handler);
}

export function executeCommand<T>(id: string, ...args: unknown[]): Thenable<T> {
    return vscode.commands.executeCommand<T>(id, ...args);
}

export function activeTextEditor(): vscode.TextEditor | undefined {
    return vscode.window.activeTextEditor;
}

export function getExtension<T>(id: string): vscode.Extension<T> | undefined {
    return vscode.extensions.getExtension<T>(id);
}

export function withCancellableNotification<T>(
    title: string,
    task: (token: vscode.CancellationToken) => Thenable<T>,
): Thenable<T> {
    return vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title, cancellable: true },
        (_progress, token) => task(token),
    );
}

export function showInformationMessage(message: string, detail?: string): Thenable<unknown> {
    return detail === undefined
        ? vscode.window.showInformationMessage(message)
        : vscode.window.showInformationMessage(message, { modal: true, detail });
}

export function showWarningMessage(message: string): Thenable<unknown> {
    return vscode.window.showWarningMessage(message);
}

export function showErrorMessage(message: string): Thenable<unknown> {
    return vscode.window.showErrorMessage(message);
}

export function newCancellationTokenSource(): vscode.CancellationTokenSource {
    return new vscode.CancellationTokenSource();
}

export function themeColor(id: string): vscode.ThemeColor {
    return new vscode.ThemeColor(id);
}

export function newRange(range: {
    start: { line: number; character: number };
    end: { line: number; character: number };
}): vscode.Range {
    return new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character);
}
