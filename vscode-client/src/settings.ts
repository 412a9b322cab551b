/**
 * The extension's `codepager.*` settings: reading, validating and turning them into the object the
 * server receives. Pure functions over an injected reader, so tests need no VS Code.
 */

export type TraceLevel = 'off' | 'messages' | 'verbose';

export interface CodepagerSettings {
    enable: boolean;
    interpreter: string;
    modelPath: string;
    device: string;
    contextBudget: number;
    maxTokens: number;
    debounceMs: number;
    /** torch's CPU threads in the server; 0 leaves torch's default. */
    cpuThreads: number;
    traceServer: TraceLevel;
}

/**
 * What the server reads from `initializationOptions.codepager` and `didChangeConfiguration`;
 * null leaves the choice to the server (embedded model, best available device).
 */
export interface ServerSettings {
    modelPath: string | null;
    device: string | null;
    contextBudget: number;
    maxTokens: number;
    debounceMs: number;
    cpuThreads: number | null;
}

export const SECTION = 'codepager';

export const DEFAULT_SETTINGS: Readonly<CodepagerSettings> = Object.freeze({
    enable: true,
    interpreter: '',
    modelPath: '',
    device: 'auto',
    contextBudget: 1536,
    maxTokens: 64,
    debounceMs: 75,
    cpuThreads: 0,
    traceServer: 'off',
});

/** Keys whose change needs a new server process. */
const RESTART_KEYS = ['enable', 'interpreter'] as const;
/** Keys the running server takes through `workspace/didChangeConfiguration`. */
const SERVER_KEYS = ['modelPath', 'device', 'contextBudget', 'maxTokens', 'debounceMs', 'cpuThreads'] as const;

const DEVICE_PATTERN = /^(auto|cpu|cuda(:[0-9]+)?)$/;
const TRACE_LEVELS: readonly TraceLevel[] = ['off', 'messages', 'verbose'];

interface IntegerRange {
    min: number;
    max: number;
}

const INTEGER_RANGES: Record<'contextBudget' | 'maxTokens' | 'debounceMs' | 'cpuThreads', IntegerRange> = {
    contextBudget: { min: 0, max: 131072 },
    maxTokens: { min: 1, max: 4096 },
    debounceMs: { min: 0, max: 5000 },
    cpuThreads: { min: 0, max: 256 },
};

/** Reads one key under `codepager` (e.g. `"maxTokens"`, `"trace.server"`); undefined when unset. */
export type SettingReader = (key: string) => unknown;

export interface PathContext {
    home: string;
    workspaceFolder?: string;
}

export interface ResolvedSettings {
    settings: CodepagerSettings;
    /** One line per invalid value; each was replaced by its default. */
    problems: string[];
}

export function resolveSettings(read: SettingReader, paths: PathContext): ResolvedSettings {
    const problems: string[] = [];
    const settings: CodepagerSettings = { ...DEFAULT_SETTINGS };

    const enable = read('enable');
    if (enable !== undefined) {
        if (typeof enable === 'boolean') {
            settings.enable = enable;
        } else {
            problems.push(`codepager.enable: ${show(enable)} is not true or false; using true`);
        }
    }
    for (const key of ['interpreter', 'modelPath'] as const) {
        const value = read(key);
        if (value === undefined || value === null) {
            continue;
        }
        if (typeof value === 'string') {
            settings[key] = expandPath(value.trim(), paths);
        } else {
            problems.push(`codepager.${key}: ${show(value)} is not a string; using the default`);
        }
    }
    const device = read('device');
    if (device !== undefined) {
        if (typeof device === 'string' && DEVICE_PATTERN.test(device.trim())) {
            settings.device = device.trim();
        } else {
            problems.push(`codepager.device: ${show(device)} is not auto, cpu, cuda or cuda:N; using auto`);
        }
    }
    for (const key of Object.keys(INTEGER_RANGES) as (keyof typeof INTEGER_RANGES)[]) {
        const value = read(key);
        if (value === undefined) {
            continue;
        }
        const { min, max } = INTEGER_RANGES[key];
        if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) {
            settings[key] = value;
        } else {
            problems.push(
                `codepager.${key}: ${show(value)} is not an integer in [${min}, ${max}]; ` +
                    `using ${DEFAULT_SETTINGS[key]}`,
            );
        }
    }
    const trace = read('trace.server');
    if (trace !== undefined) {
        if (TRACE_LEVELS.includes(trace as TraceLevel)) {
            settings.traceServer = trace as TraceLevel;
        } else {
            problems.push(`codepager.trace.server: ${show(trace)} is not off, messages or verbose; using off`);
        }
    }
    return { settings, problems };
}

/** Expands a leading `~` and `${workspaceFolder}` / `${userHome}` the way VS Code users expect. */
export function expandPath(value: string, paths: PathContext): string {
    let expanded = value.replace(/\$\{userHome\}/g, paths.home);
    if (paths.workspaceFolder !== undefined) {
        expanded = expanded.replace(/\$\{workspaceFolder\}/g, paths.workspaceFolder);
    }
    if (expanded === '~') {
        return paths.home;
    }
    if (expanded.startsWith('~/') || expanded.startsWith('~\\')) {
        return paths.home + expanded.slice(1);
    }
    return expanded;
}

export function toServerSettings(settings: CodepagerSettings): ServerSettings {
    return {
        modelPath: settings.modelPath === '' ? null : settings.modelPath,
        device: settings.device === 'auto' ? null : settings.device,
        contextBudget: settings.contextBudget,
        maxTokens: settings.maxTokens,
        debounceMs: settings.debounceMs,
        cpuThreads: settings.cpuThreads === 0 ? null : settings.cpuThreads,
    };
}

/** The payload of `initializationOptions` and of `didChangeConfiguration`'s `settings`. */
export function serverConfiguration(settings: CodepagerSettings): { codepager: ServerSettings } {
    return { codepager: toServerSettings(settings) };
}

export type ConfigurationReaction = 'restart' | 'update' | 'none';

/**
 * What a configuration change asks of the running server. `affects` is VS Code's
 * `ConfigurationChangeEvent.affectsConfiguration`; trace changes are applied by the language
 * client itself.
 */
export function reactionToChange(affects: (section: string) => boolean): ConfigurationReaction {
    if (RESTART_KEYS.some((key) => affects(`${SECTION}.${key}`))) {
        return 'restart';
    }
    if (SERVER_KEYS.some((key) => affects(`${SECTION}.${key}`))) {
        return 'update';
    }
    return 'none';
}

function show(value: unknown): string {
    return JSON.stringify(value) ?? String(value);
}
