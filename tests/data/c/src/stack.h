#ifndef STACK_H
#define STACK_H

#include <stddef.h>

#define STACK_MAX 64

/* A fixed-size stack of ints. */
typedef struct Stack {
    int items[STACK_MAX];
    size_t len;
} Stack;

/* Pushes a value; returns 0 when full. */
int stack_push(Stack *s, int value);
int stack_pop(Stack *s);

#endif
