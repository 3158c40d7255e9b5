// TandemReport
//
// Owns: `tandem report`: an HTML builder that escapes, SVG charts, and
// `RunReport`, a run's files and store entries as one page.
//
// Must not import: the trainer: it reads what TandemRun's file types
// describe.
