/** Identifiers are opaque strings. */
export type Id = string;

export enum Status {
  Open,
  Done,
}

/** Something that can be stored. */
export interface Entity {
  id: Id;
  status: Status;
  describe(): string;
}

export abstract class Base implements Entity {
  constructor(public id: Id, public status: Status = Status.Open) {}

  abstract describe(): string;

  /** Marks the entity done. */
  finish(): void {
    this.status = Status.Done;
  }
}

export function makeId(prefix: string): Id {
  return `${prefix}-${Date.now()}`;
}
