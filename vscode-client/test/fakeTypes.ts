/** The classes and enums of the fake `vscode` module (see fakeVscode.ts). */
import { fileURLToPath, pathToFileURL } from 'node:url';

export class Disposable {
    constructor(private readonly callOnDispose: () => unknown) {}
    static from(...items: { dispose(): unknown }[]): Disposable {
        return new Disposable(() => items.forEach((item) => item.dispose()));
    }
    dispose(): void {
        this.callOnDispose();
    }
}

type Listener<T> = (event: T) => unknown;

export class EventEmitter<T> {
    private listeners = new Set<Listener<T>>();
    readonly event = (listener: Listener<T>, thisArg?: unknown, disposables?: Disposable[]): Disposable => {
        const bound: Listener<T> = (e) => listener.call(thisArg, e);
        this.listeners.add(bound);
        const disposable = new Disposable(() => this.listeners.delete(bound));
        disposables?.push(disposable);
        return disposable;
    };
    fire(event: T): void {
        [...this.listeners].forEach((listener) => listener(event));
    }
    dispose(): void {
        this.listeners.clear();
    }
}

export class CancellationError extends Error {
    constructor() {
        super('Canceled');
        this.name = 'Canceled';
    }
}

export class CancellationTokenSource {
    private emitter = new EventEmitter<void>();
    private cancelled = false;
    readonly token = {
        isCancellationRequested: false,
        onCancellationRequested: this.emitter.event,
    };
    cancel(): void {
        if (!this.cancelled) {
            this.cancelled = true;
            this.token.isCancellationRequested = true;
            this.emitter.fire();
        }
    }
    dispose(): void {
        this.emitter.dispose();
    }
}

export class Position {
    constructor(readonly line: number, readonly character: number) {}
    with(line = this.line, character = this.character): Position {
        return new Position(line, character);
    }
    translate(lineDelta = 0, characterDelta = 0): Position {
        return new Position(this.line + lineDelta, this.character + characterDelta);
    }
    isEqual(other: Position): boolean {
        return this.line === other.line && this.character === other.character;
    }
    isBefore(other: Position): boolean {
        return this.line < other.line || (this.line === other.line && this.character < other.character);
    }
    compareTo(other: Position): number {
        return this.isEqual(other) ? 0 : this.isBefore(other) ? -1 : 1;
    }
}

export class Range {
    readonly start: Position;
    readonly end: Position;
    constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
        const start = typeof a === 'number' ? new Position(a, b as number) : a;
        const end = typeof a === 'number' ? new Position(c as number, d as number) : (b as Position);
        [this.start, this.end] = start.isBefore(end) || start.isEqual(end) ? [start, end] : [end, start];
    }
    get isEmpty(): boolean {
        return this.start.isEqual(this.end);
    }
    get isSingleLine(): boolean {
        return this.start.line === this.end.line;
    }
    with(start = this.start, end = this.end): Range {
        return new Range(start, end);
    }
}

export class Selection extends Range {
    constructor(readonly anchor: Position, readonly active: Position) {
        super(anchor, active);
    }
}

export class Uri {
    private constructor(readonly scheme: string, readonly fsPath: string, private readonly text: string) {}
    static file(fsPath: string): Uri {
        return new Uri('file', fsPath, pathToFileURL(fsPath).toString());
    }
    static parse(value: string): Uri {
        const scheme = value.slice(0, value.indexOf(':'));
        return new Uri(scheme, scheme === 'file' ? fileURLToPath(value) : value, value);
    }
    get path(): string {
        return this.fsPath;
    }
    toString(): string {
        return this.text;
    }
    toJSON(): unknown {
        return { scheme: this.scheme, fsPath: this.fsPath, external: this.text };
    }
}

export class MarkdownString {
    constructor(public value = '', public supportThemeIcons = false) {}
    appendMarkdown(value: string): this {
        this.value += value;
        return this;
    }
    appendText(value: string): this {
        this.value += value;
        return this;
    }
}

export class SnippetString {
    constructor(public value = '') {}
}

export class ThemeColor {
    constructor(readonly id: string) {}
}

export class InlineCompletionItem {
    constructor(public insertText: string | SnippetString, public range?: Range, public command?: unknown) {}
    filterText?: string;
}

export class InlineCompletionList {
    constructor(public items: InlineCompletionItem[]) {}
}

export class CompletionItem {
    constructor(public label: string, public kind?: number) {}
}

export class CompletionList {
    constructor(public items: CompletionItem[] = [], public isIncomplete = false) {}
}

/** Classes the language client extends at load time; their behaviour is not used here. */
class Plain {
    readonly args: unknown[];
    constructor(...args: unknown[]) {
        this.args = args;
    }
}
export class CallHierarchyItem extends Plain {}
export class TypeHierarchyItem extends Plain {}
export class CodeLens extends Plain {}
export class CodeAction extends Plain {}
export class DocumentLink extends Plain {}
export class InlayHint extends Plain {}
export class SymbolInformation extends Plain {}
export class Diagnostic extends Plain {}

export class TabInputText {
    constructor(readonly uri: Uri) {}
}
export class TabInputTextDiff extends Plain {}
export class TabInputCustom extends Plain {}
export class TabInputNotebook extends Plain {}

export class TextEdit {
    constructor(public range: Range, public newText: string) {}
}

export class Location {
    constructor(public uri: Uri, public range: Range) {}
}

/** An enum whose members the client only maps, never interprets: each member is its own name. */
function opaqueEnum(): Record<string, string> {
    return new Proxy({}, { get: (_target, name) => String(name) });
}
export const CodeActionKind = opaqueEnum();
export const SymbolKind = opaqueEnum();
export const SymbolTag = opaqueEnum();
export const CompletionItemTag = opaqueEnum();
export const DiagnosticTag = opaqueEnum();
export const DocumentHighlightKind = opaqueEnum();
export const FoldingRangeKind = opaqueEnum();
export const InlayHintKind = opaqueEnum();
export const SignatureHelpTriggerKind = opaqueEnum();
export const CodeActionTriggerKind = opaqueEnum();

export const StatusBarAlignment = { Left: 1, Right: 2 };
export const ViewColumn = { Active: -1, Beside: -2, One: 1, Two: 2 };
export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 };
export const InlineCompletionTriggerKind = { Invoke: 0, Automatic: 1 };
export const CompletionItemKind = { Text: 0 };
export const CompletionTriggerKind = { Invoke: 0, TriggerCharacter: 1, TriggerForIncompleteCompletions: 2 };
export const DiagnosticSeverity = { Error: 0, Warning: 1, Information: 2, Hint: 3 };
export const TextDocumentSaveReason = { Manual: 1, AfterDelay: 2, FocusOut: 3 };
export const EndOfLine = { LF: 1, CRLF: 2 };
export const LogLevel = { Off: 0, Trace: 1, Debug: 2, Info: 3, Warning: 4, Error: 5 };
export const UIKind = { Desktop: 1, Web: 2 };
export const FileType = { Unknown: 0, File: 1, Directory: 2, SymbolicLink: 64 };

export class TextDocument {
    version = 1;
    isClosed = false;
    isDirty = false;
    readonly isUntitled = false;
    readonly eol = EndOfLine.LF;
    readonly uri: Uri;
    constructor(readonly fileName: string, readonly languageId: string, private text: string) {
        this.uri = Uri.file(fileName);
    }
    get lineCount(): number {
        return this.text.split('\n').length;
    }
    getText(range?: Range): string {
        return range === undefined ? this.text : this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end));
    }
    lineAt(lineOrPosition: number | Position): { text: string; lineNumber: number; range: Range } {
        const line = typeof lineOrPosition === 'number' ? lineOrPosition : lineOrPosition.line;
        const text = this.text.split('\n')[line] ?? '';
        return { text, lineNumber: line, range: new Range(line, 0, line, text.length) };
    }
    offsetAt(position: Position): number {
        const lines = this.text.split('\n');
        let offset = 0;
        for (let i = 0; i < position.line && i < lines.length; i++) {
            offset += lines[i].length + 1;
        }
        return offset + Math.min(position.character, lines[position.line]?.length ?? 0);
    }
    positionAt(offset: number): Position {
        const before = this.text.slice(0, offset).split('\n');
        return new Position(before.length - 1, before[before.length - 1].length);
    }
    validateRange(range: Range): Range {
        return range;
    }
    validatePosition(position: Position): Position {
        return position;
    }
    getWordRangeAtPosition(position: Position): Range | undefined {
        const text = this.lineAt(position.line).text;
        const word = /[A-Za-z_][A-Za-z0-9_]*/g;
        for (let match = word.exec(text); match !== null; match = word.exec(text)) {
            if (match.index <= position.character && position.character <= match.index + match[0].length) {
                return new Range(position.line, match.index, position.line, match.index + match[0].length);
            }
        }
        return undefined;
    }
    save(): Promise<boolean> {
        return Promise.resolve(true);
    }
}
