import './vscodeAlias';
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, explainArguments, explainPage, explainRange } from '../src/explain';

const at = (line: number, character: number) => ({ line, character });

describe('explainRange', () => {
    it('uses a non-empty selection', () => {
        const selection = { start: at(2, 0), end: at(5, 3) };
        assert.deepEqual(explainRange(selection, { start: at(2, 0), end: at(2, 4) }), selection);
    });

    it('uses the symbol at the cursor when nothing is selected', () => {
        assert.deepEqual(explainRange({ start: at(3, 6), end: at(3, 6) }, { start: at(3, 4), end: at(3, 9) }), {
            start: at(3, 4),
            end: at(3, 9),
        });
    });

    it('falls back to the cursor position itself', () => {
        assert.deepEqual(explainRange({ start: at(3, 6), end: at(3, 6) }, undefined), { start: at(3, 6), end: at(3, 6) });
    });
});

describe('explainArguments', () => {
    it('matches the server contract', () => {
        assert.deepEqual(explainArguments('file:///r/a.py', { start: at(1, 2), end: at(1, 5) }), [
            { textDocument: { uri: 'file:///r/a.py' }, range: { start: at(1, 2), end: at(1, 5) } },
        ]);
    });
});

describe('explainPage', () => {
    it('escapes the title, keeps the rendered body and forbids scripts', () => {
        const page = explainPage('<b>x</b>', '<h1>add</h1>', 'vscode-resource:');
        assert.ok(page.includes('<title>&#60;b&#62;x&#60;/b&#62;</title>'));
        assert.ok(page.includes('<body><h1>add</h1></body>'));
        assert.ok(page.includes("default-src 'none'"));
        assert.ok(!page.includes('script-src'));
    });

    it('escapeHtml escapes all five characters', () => {
        assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
    });
});
