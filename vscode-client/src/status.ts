/**
 * The status-bar item: server state, indexing progress (the server's `$/progress`), the model in
 * use; clicking it asks the server for `codepager/status` and shows the answer.
 */
import type { Disposable, StatusBarItem } from 'vscode';
import {
    type LanguageClient,
    WorkDoneProgress,
    type WorkDoneProgressBegin,
    WorkDoneProgressCreateRequest,
    type WorkDoneProgressReport,
} from 'vscode-languageclient/node';
import { createStatusBarItem, showInformationMessage, themeColor } from './vscodeapi';

export const STATUS_REQUEST = 'codepager/status';
export const SHOW_STATUS_COMMAND = 'codepager.showStatus';
const MAX_DETAIL_LINES = 60;

export interface ProgressState {
    title: string;
    message?: string;
    percentage?: number;
}

export type ServerPhase = 'disabled' | 'starting' | 'running' | 'stopped' | 'error';

export interface StatusState {
    phase: ServerPhase;
    progress?: ProgressState;
    model?: string;
    interpreter?: string;
    error?: string;
}

export interface StatusView {
    text: string;
    tooltip: string;
    isError: boolean;
}

export function statusView(state: StatusState): StatusView {
    const model = state.model === undefined ? '' : `\nModel: ${state.model}`;
    const interpreter = state.interpreter === undefined ? '' : `\nPython: ${state.interpreter}`;
    switch (state.phase) {
        case 'disabled':
            return { text: '$(circle-slash) CodePager', tooltip: 'CodePager is off (codepager.enable)', isError: false };
        case 'starting':
            return { text: '$(loading~spin) CodePager', tooltip: `CodePager: starting the server${interpreter}`, isError: false };
        case 'stopped':
            return { text: '$(debug-stop) CodePager', tooltip: 'CodePager: the server stopped', isError: true };
        case 'error':
            return { text: '$(error) CodePager', tooltip: `CodePager: ${state.error ?? 'error'}${interpreter}`, isError: true };
        case 'running': {
            const progress = state.progress;
            if (progress === undefined) {
                return { text: '$(check) CodePager', tooltip: `CodePager: ready${model}${interpreter}`, isError: false };
            }
            const percent = progress.percentage === undefined ? '' : ` ${Math.round(progress.percentage)}%`;
            const message = progress.message === undefined ? '' : `: ${progress.message}`;
            return {
                text: `$(sync~spin) CodePager${percent}`,
                tooltip: `CodePager: ${progress.title}${message}${model}${interpreter}`,
                isError: false,
            };
        }
    }
}

/** The model named in a `codepager/status` answer, wherever the server puts it. */
export function modelName(status: unknown): string | undefined {
    if (!isObject(status)) {
        return undefined;
    }
    for (const candidate of [status.model, isObject(status.engine) ? status.engine.model : undefined]) {
        if (typeof candidate === 'string' && candidate !== '') {
            return candidate;
        }
        if (isObject(candidate)) {
            const name = candidate.name ?? candidate.path;
            if (typeof name === 'string' && name !== '') {
                return name;
            }
        }
    }
    return undefined;
}

/** A `codepager/status` answer as `a.b: value` lines for a details message. */
export function statusDetails(status: unknown): string[] {
    const lines: string[] = [];
    const visit = (value: unknown, path: string): void => {
        if (isObject(value) && Object.keys(value).length > 0) {
            for (const [key, child] of Object.entries(value)) {
                visit(child, path === '' ? key : `${path}.${key}`);
            }
        } else {
            lines.push(`${path === '' ? 'status' : path}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
        }
    };
    visit(status, '');
    return lines.length > MAX_DETAIL_LINES
        ? [...lines.slice(0, MAX_DETAIL_LINES), `… ${lines.length - MAX_DETAIL_LINES} more`]
        : lines;
}

/** Applies one `$/progress` value to the progress shown; undefined when the work ended. */
export function nextProgress(
    current: ProgressState | undefined,
    value: WorkDoneProgressBegin | WorkDoneProgressReport | { kind: 'end' },
): ProgressState | undefined {
    switch (value.kind) {
        case 'begin':
            return { title: value.title, message: value.message, percentage: value.percentage };
        case 'report':
            return {
                title: current?.title ?? 'working',
                message: value.message ?? current?.message,
                percentage: value.percentage ?? current?.percentage,
            };
        case 'end':
            return undefined;
    }
}

export class StatusBar implements Disposable {
    private readonly item: StatusBarItem;
    private state: StatusState = { phase: 'starting' };
    private readonly progressByToken = new Map<string | number, ProgressState>();

    constructor() {
        this.item = createStatusBarItem('codepager.status', 100);
        this.item.name = 'CodePager';
        this.item.command = SHOW_STATUS_COMMAND;
        this.render();
        this.item.show();
    }

    get current(): StatusState {
        return this.state;
    }

    update(change: Partial<StatusState>): void {
        this.state = { ...this.state, ...change };
        this.render();
    }

    /**
     * Shows the server's work-done progress (indexing) here. The client library would show it in
     * its own window progress; this handler replaces that one so it is shown once, with the model.
     */
    attach(client: LanguageClient): Disposable[] {
        this.progressByToken.clear();
        const subscriptions: Disposable[] = [];
        client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
            const subscription = client.onProgress(WorkDoneProgress.type, token, (value) => {
                const progress = nextProgress(this.progressByToken.get(token), value);
                if (progress === undefined) {
                    this.progressByToken.delete(token);
                    subscription.dispose();
                    void this.refreshModel(client);
                } else {
                    this.progressByToken.set(token, progress);
                }
                this.update({ progress: [...this.progressByToken.values()].pop() });
            });
            subscriptions.push(subscription);
        });
        void this.refreshModel(client);
        return subscriptions;
    }

    async showDetails(client: LanguageClient | undefined): Promise<void> {
        const view = statusView(this.state);
        if (client === undefined) {
            await showInformationMessage(view.tooltip);
            return;
        }
        try {
            const status = await client.sendRequest(STATUS_REQUEST, {});
            await showInformationMessage('CodePager status', statusDetails(status).join('\n'));
        } catch (error) {
            await showInformationMessage('CodePager status', `${STATUS_REQUEST} failed: ${String(error)}`);
        }
    }

    dispose(): void {
        this.item.dispose();
    }

    private async refreshModel(client: LanguageClient): Promise<void> {
        try {
            const model = modelName(await client.sendRequest(STATUS_REQUEST, {}));
            if (model !== undefined) {
                this.update({ model });
            }
        } catch {
            // The status request is informational; a failure shows up in the output channel.
        }
    }

    private render(): void {
        const view = statusView(this.state);
        this.item.text = view.text;
        this.item.tooltip = view.tooltip;
        this.item.backgroundColor = view.isError ? themeColor('statusBarItem.errorBackground') : undefined;
    }
}

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
