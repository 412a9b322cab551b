/**
 * Two-dimensional vectors.
 */

export const ORIGIN = { x: 0, y: 0 };

/** A vector in the plane. */
export class Vector {
  constructor(x, y) {
    this.x = x;
    this.y = y;
  }

  // Sum of two vectors.
  add(other) {
    return new Vector(this.x + other.x, this.y + other.y);
  }

  static zero() {
    return new Vector(ORIGIN.x, ORIGIN.y);
  }
}

/**
 * Dot product.
 * @param {Vector} a
 */
export function dot(a, b) {
  return a.x * b.x + a.y * b.y;
}

export const scale = (v, k) => new Vector(v.x * k, v.y * k);
