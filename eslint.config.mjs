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
      // code lines stay within 160 characters; a long message string or URL may run past it rather than be cut
      '@stylistic/max-len': ['error', { code: 160, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true }]
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
