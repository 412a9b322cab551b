/** Runs the last scheduled action once no new one has been scheduled for `delayMs`. */
export class Debouncer {
    private timer: ReturnType<typeof setTimeout> | undefined;

    constructor(private readonly delayMs: number) {}

    schedule(action: () => void): void {
        this.cancel();
        this.timer = setTimeout(() => {
            this.timer = undefined;
            action();
        }, this.delayMs);
    }

    cancel(): void {
        if (this.timer !== undefined) {
            clearTimeout(this.timer);
            this.timer = undefined;
        }
    }

    get pending(): boolean {
        return this.timer !== undefined;
    }
}
