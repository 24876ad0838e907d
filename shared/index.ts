export * from './errors.ts';
export * from './schema.ts';
export * from './ordering.ts';
export * from './roles.ts';
export * from './generation.ts';
export * from './sequence-validation.ts';
export type * from './api-types.ts';
export * from './at-lexicon.ts';
export * from './membership.ts';
