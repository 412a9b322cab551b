import { Vector, dot } from "./geometry/vector.js";
import * as geometry from "./geometry/vector.js";
const { clamp } = require("./util");

class Scene extends Array {
  render() {
    return this.map((v) => geometry.scale(v, 2));
  }
}

function main() {
  const v = new Vector(1, 2).add(Vector.zero());
  console.log(clamp(dot(v, v), 0, 10));
}

main();
