// Lint: typescript-eslint strictTypeChecked for all TypeScript, plus the
// determinism bans of DESIGN.md §9 for core folders (everything under src/
// except io/node, process, cli and sim), each ban naming its Env replacement.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const coreBans = {
  'no-restricted-globals': [
    'error',
    { name: 'setTimeout', message: 'Use env.clock.setTimer (DESIGN.md §9).' },
    { name: 'setInterval', message: 'Use env.clock.setTimer (DESIGN.md §9).' },
    { name: 'setImmediate', message: 'Use env.clock (DESIGN.md §9).' },
    { name: 'clearTimeout', message: 'Use env.clock.clearTimer (DESIGN.md §9).' },
    { name: 'performance', message: 'Use env.clock.monotonicMs (DESIGN.md §9).' },
    { name: 'process', message: 'Core code gets configuration and I/O through Env.' },
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: 'Use env.clock.nowMs (DESIGN.md §9).' },
    { object: 'Math', property: 'random', message: 'Use env.random (DESIGN.md §9).' },
    { object: 'crypto', property: 'randomBytes', message: 'Use env.random.bytes.' },
    { object: 'crypto', property: 'randomUUID', message: 'Use env.random.bytes.' },
  ],
  'no-restricted-syntax': [
    'error',
    { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use env.clock.nowMs (DESIGN.md §9).' },
  ],
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      paths: [
        { name: 'node:fs', message: 'Use env.disk (DESIGN.md §9).' },
        { name: 'node:fs/promises', message: 'Use env.disk (DESIGN.md §9).' },
        { name: 'node:net', message: 'Use env.transport (DESIGN.md §9).' },
        { name: 'node:http', message: 'Use env.transport; HTTP lives in io/node.' },
        { name: 'node:https', message: 'Use env.transport; HTTP lives in io/node.' },
        { name: 'node:timers', message: 'Use env.clock (DESIGN.md §9).' },
        { name: 'node:timers/promises', message: 'Use env.clock (DESIGN.md §9).' },
        { name: 'lmdb', message: 'Use env KvStore (io/kv-store.ts).' },
        { name: 'undici', message: 'Use env.transport.' },
        { name: 'node:crypto', importNames: ['randomBytes', 'randomUUID', 'randomInt', 'getRandomValues'], message: 'Use env.random.' },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'cluster/**', 'eslint.config.js', 'bin/**', 'scripts/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/io/node/**', 'src/process/**', 'src/cli/**', 'src/sim/**', 'src/**/*.test.ts'],
    rules: coreBans,
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      // Tests probe values the types already promise, on purpose.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
);
