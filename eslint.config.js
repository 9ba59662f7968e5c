// ESLint flat config (`npm run lint`). typescript-eslint's strict, type-aware set on the TypeScript
// sources and tests: it catches what the compiler does not (floating or misused promises, unsafe
// `any` flowing out of JSON and untyped libraries, `undefined` printed into messages, awaiting
// non-promises). Plain `eslint:recommended` on the JavaScript scripts. No formatting rules: lint
// finds defects, not style. Every rule turned off below says why in one line.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { defineConfig } from 'eslint/config';

export default defineConfig(
  { ignores: ['dist/', 'coverage/', 'bench/out/', 'bench/models/', '.tmp/', '**/*.d.ts'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // noUncheckedIndexedAccess makes `a[i]!` the idiom for indexing typed arrays in hot loops.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Library entry points re-check options from untyped JavaScript callers (hostile input rule);
      // the type checker calls those checks unnecessary.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // An async function without await still turns a throw into a rejection; interfaces want it.
      '@typescript-eslint/require-await': 'off',
      // Style only: `() => void f()` versus a block body.
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // Slow (a fifth of lint time on tfjs's types) and fkd declares no enums.
      '@typescript-eslint/no-unsafe-enum-assignment': 'off',
      // Numbers and booleans print fine; `undefined`, objects and arrays in a message stay errors.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `_` marks a value deliberately ignored (a destructured rest, a loop that only counts).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: {
      // commander hands each action untyped (`any`) flags; the options module types them on the way in.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read parsed JSON and CLI output by design; a wrong shape fails the assertion anyway.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/restrict-plus-operands': ['error', { allowAny: true }],
      // Fault-injection doubles stand in for store classes structurally (the only mocks allowed).
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
    },
  },
  {
    files: ['**/*.js'],
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': 'off',
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
);
