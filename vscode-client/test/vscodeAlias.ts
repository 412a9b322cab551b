/**
 * Makes `require('vscode')` load the fake in ./fakeVscode, for our code and for
 * vscode-languageclient alike. Import this first in every test file.
 */
import Module from 'node:module';
import * as path from 'node:path';

const FAKE = path.join(__dirname, 'fakeVscode.js');
const moduleWithResolver = Module as unknown as {
    _resolveFilename(request: string, ...rest: unknown[]): string;
};
const resolve = moduleWithResolver._resolveFilename;
moduleWithResolver._resolveFilename = function (request: string, ...rest: unknown[]): string {
    return request === 'vscode' ? FAKE : resolve.call(this, request, ...rest);
};
