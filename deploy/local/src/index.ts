// @sitrep/local-stack: the stack ladder for tests and `npm start` (see stack.ts).
export { provisionStack, engineAnswers, localPrerequisites, StackUnavailableError } from './stack.js';
export type { Stack, StackMode, StackPurpose, ProvisionOptions } from './stack.js';
