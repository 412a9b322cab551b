import React from "react";
import { Store, Task } from "./store";

interface Props {
  store: Store<Task>;
}

export function TaskList({ store }: Props): JSX.Element {
  const items = [new Task("a")];
  return (
    <ul>
      {items.map((t) => (
        <li key={t.id}>{t.describe()}</li>
      ))}
    </ul>
  );
}
