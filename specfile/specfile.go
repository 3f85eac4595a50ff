package specfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/protocol"
)

// MaxSize is the largest spec file accepted (the §10 registration limit).
const MaxSize = protocol.MaxRegistrationBody

// Load reads and validates a spec file: .json files are JSON, anything
// else YAML. Errors name the file.
func Load(path string) (*agentspec.Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse validates spec file content; name decides the format (by its
// extension) and prefixes errors: `agent.yaml: line 7: tools[1].name: …`.
func Parse(name string, data []byte) (*agentspec.Spec, error) {
	spec, err := parse(name, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return spec, nil
}

func parse(name string, data []byte) (*agentspec.Spec, error) {
	if len(data) > MaxSize {
		return nil, &agentspec.SpecError{Msg: "file larger than 1 MiB"}
	}
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return agentspec.ParseJSON(data)
	}
	root, err := yamlTree(data)
	if err != nil {
		return nil, err
	}
	return agentspec.FromTree(root)
}
