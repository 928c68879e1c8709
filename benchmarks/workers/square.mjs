// The trivial task every pool runs in the dispatch benchmark.
export default function square(x) {
  return x * x;
}

export function squareBatch(xs) {
  return xs.map((x) => x * x);
}
