#include "stack.h"
#include <stdio.h>

enum Result { OK, FULL };

int stack_push(Stack *s, int value) {
    if (s->len >= STACK_MAX) {
        return 0;
    }
    s->items[s->len++] = value;
    return 1;
}

int stack_pop(Stack *s) {
    return s->items[--s->len];
}

// Prints the stack, top first.
static void stack_print(const Stack *s) {
    for (size_t i = s->len; i > 0; i--) {
        printf("%d\n", s->items[i - 1]);
    }
}

int main(void) {
    Stack s = {0};
    stack_push(&s, 1);
    stack_print(&s);
    return stack_pop(&s);
}
