package com.example.shop;

import java.util.ArrayList;
import java.util.List;
import java.util.function.*;

/** A shopping cart. */
public class Cart implements Priced {
    private final List<Item> items = new ArrayList<>();

    public void add(Item item) {
        items.add(item);
    }

    @Override
    public long total() {
        long sum = 0;
        for (Item item : items) {
            sum += item.price();
        }
        return sum;
    }
}

interface Priced {
    long total();
}
