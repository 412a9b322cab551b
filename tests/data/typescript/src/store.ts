import { Base, Entity, makeId } from "./model";
import type { Id } from "./model";

export const DEFAULTS = { capacity: 10 } as const;

export class Task extends Base {
  describe(): string {
    return `task ${this.id}`;
  }
}

export class Store<T extends Entity> {
  private items: Map<Id, T> = new Map();

  add(item: T): Id {
    this.items.set(item.id, item);
    return item.id;
  }

  get(id: Id): T | undefined {
    return this.items.get(id);
  }
}

export const newTask = (): Task => new Task(makeId("t"));
