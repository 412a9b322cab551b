/** Shared helpers for tests: resetting the fake and tokens. */
import * as vscode from 'vscode';
import type { fake as FakeState } from './fakeVscode';

export const fake = (vscode as unknown as { fake: typeof FakeState }).fake;

export function cancellationSource(): vscode.CancellationTokenSource {
    return new vscode.CancellationTokenSource();
}
