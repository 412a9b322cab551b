package com.example.shop;

/** An item for sale. */
public class Item {
    private final String name;
    private final long priceCents;

    public Item(String name, long priceCents) {
        this.name = name;
        this.priceCents = priceCents;
    }

    /**
     * Price in cents.
     */
    public long price() {
        return priceCents;
    }

    public String getName() {
        return name;
    }
}
