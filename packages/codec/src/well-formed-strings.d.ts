// ES2024 string methods, present on every runtime we support (Node 20, Bun, Deno, workerd).
// Declared alone rather than taking lib ES2024, whose other additions Node 20 lacks.
interface String {
  isWellFormed(): boolean;
  toWellFormed(): string;
}
