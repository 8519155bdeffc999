import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'coverage/**', 'node_modules/**', '.scratch/**', '.cache/**'] }),
  {
    rules: {
      // `void promise.catch(...)` marks a task deliberately left to run on its own
      'no-void': 'off',
      // `for await (const frame of stream) { ...; break }` reads the first frame of a stream
      'no-unreachable-loop': ['error', { ignore: ['ForOfStatement'] }],
      // loops wait on flags that callbacks and events set (`while (!stopped)`), which this rule cannot see
      'no-unmodified-loop-condition': 'off',
      // a `let` read by a closure before it is assigned is not a const
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // long lines are being wrapped toward 160 characters; none may grow past this meanwhile
      '@stylistic/max-len': ['error', { code: 300, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true }]
    }
  },
  {
    files: ['**/*.ts'],
    rules: {
      // `_` names what is read only to be dropped (`for await (const _ of body)` drains a body)
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_', argsIgnorePattern: '^_' }]
    }
  }
]
