// Package specfile reads agent specification files (PROTOCOL.md §2.1) in
// YAML or JSON, strictly, and returns only valid specs:
//
//	spec, err := specfile.Load("agents/patcher.yaml")
//	// agents/patcher.yaml: line 7: tools[1].name: duplicate tool name "open_pr"
//	sum, err := agentspec.Sum(spec)
//
// Files ending in .json go to agentspec.ParseJSON; anything else is YAML
// (1.2 core schema, through go.yaml.in/yaml/v3's node API). YAML is
// refused where it would not map faithfully onto JSON or could surprise a
// reviewer: unknown members and duplicate keys (at any level), aliases
// (no "billion laughs"; anchors alone are harmless), merge keys, keys that
// are not strings (1, true, null and 2001-01-01 would turn into text),
// tags outside the core schema (!!binary, !!timestamp, !!set, !!omap,
// custom tags), more than one document, numbers without a JSON form (.inf,
// .nan), nesting deeper than 32 and files over 1 MiB.
//
// Scalars convert like this: !!str stays a string (so a quoted "1.0" is
// text), !!null is null, !!bool a boolean, and !!int and !!float become a
// json.Number of the literal when it is already JSON syntax; other YAML
// spellings (0x1F, 0o17, +1, .5, 1_000) are converted through strconv.
// Errors are *agentspec.SpecError with the file's line and column, wrapped
// with the file name.
//
// The package is separate from checksum so that the SDK needs no YAML
// library.
package specfile
