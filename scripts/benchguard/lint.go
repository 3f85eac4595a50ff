package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
)

// finding is a benchmark loop that can stop before b.N iterations.
type finding struct {
	pos token.Position
	msg string
}

func (f finding) String() string { return fmt.Sprintf("%s: %s", f.pos, f.msg) }

// lintFile parses one test file and returns its benchmark functions and
// the loops in it that can end before b.N iterations: a condition that
// bounds b.N by anything else (i < b.N && i < len(pool): the work stops
// while the timer still divides by b.N), and a break out of a b.Loop(),
// b.N or pb.Next() loop. The rest of the class (a pool consumed inside
// the body) is left to the timed run, which sees it.
func lintFile(fset *token.FileSet, path string, src any) (benchmarks []string, findings []finding, err error) {
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Benchmark") && len(paramsOf(fn.Type, "B")) == 1 {
			benchmarks = append(benchmarks, fn.Name.Name)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		var typ *ast.FuncType
		var body *ast.BlockStmt
		switch fn := n.(type) {
		case *ast.FuncDecl:
			typ, body = fn.Type, fn.Body
		case *ast.FuncLit:
			typ, body = fn.Type, fn.Body
		default:
			return true
		}
		bs, pbs := paramsOf(typ, "B"), paramsOf(typ, "PB")
		if body == nil || len(bs)+len(pbs) == 0 {
			return true
		}
		for _, loop := range loopsOf(body) {
			if msg := checkLoop(loop, bs, pbs); msg != "" {
				findings = append(findings, finding{pos: fset.Position(loop.Pos()), msg: msg})
			}
		}
		return true
	})
	return benchmarks, findings, nil
}

// paramsOf names the parameters of type *testing.<typ>.
func paramsOf(ft *ast.FuncType, typ string) map[string]bool {
	names := map[string]bool{}
	for _, field := range ft.Params.List {
		star, ok := field.Type.(*ast.StarExpr)
		if !ok {
			continue
		}
		sel, ok := star.X.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != typ {
			continue
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "testing" {
			continue
		}
		for _, n := range field.Names {
			names[n.Name] = true
		}
	}
	return names
}

// loopsOf returns the for statements of body, not those of nested
// function literals (they are checked with their own parameters).
func loopsOf(body *ast.BlockStmt) []*ast.ForStmt {
	var loops []*ast.ForStmt
	ast.Inspect(body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.ForStmt:
			loops = append(loops, x)
		}
		return true
	})
	return loops
}

// checkLoop says what is wrong with a benchmark loop, or "".
func checkLoop(loop *ast.ForStmt, bs, pbs map[string]bool) string {
	if loop.Cond == nil {
		return ""
	}
	driven := isCall(loop.Cond, bs, "Loop") || isCall(loop.Cond, pbs, "Next")
	if mentionsN(loop.Cond, bs) {
		if !isPlainNBound(loop.Cond, bs) {
			return fmt.Sprintf("loop condition %q can end the loop before b.N iterations while the timer divides by b.N; "+
				"make what each iteration needs in batches with b.StopTimer/b.StartTimer instead of capping the loop", compact(loop.Cond))
		}
		driven = true
	}
	if driven && breaksOut(loop.Body) {
		return "break ends the benchmark loop before its iterations are done while the timer divides by all of them"
	}
	return ""
}

// isCall matches x.name() with x one of vars.
func isCall(e ast.Expr, vars map[string]bool, name string) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 0 {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && vars[id.Name]
}

func isN(e ast.Expr, bs map[string]bool) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "N" {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && bs[id.Name]
}

func mentionsN(e ast.Expr, bs map[string]bool) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if x, ok := n.(ast.Expr); ok && isN(x, bs) {
			found = true
		}
		return !found
	})
	return found
}

// isPlainNBound accepts exactly `i < b.N` (and `b.N > i`).
func isPlainNBound(e ast.Expr, bs map[string]bool) bool {
	bin, ok := e.(*ast.BinaryExpr)
	if !ok {
		return false
	}
	switch bin.Op {
	case token.LSS:
		_, isIdent := bin.X.(*ast.Ident)
		return isIdent && isN(bin.Y, bs)
	case token.GTR:
		_, isIdent := bin.Y.(*ast.Ident)
		return isIdent && isN(bin.X, bs)
	}
	return false
}

// breaksOut reports a break that leaves the loop whose body this is: an
// unlabeled one outside nested loops, switches and selects, or any
// labeled one (labels name outer statements).
func breaksOut(body *ast.BlockStmt) bool {
	found := false
	var walk func(n ast.Node, nested bool)
	walk = func(n ast.Node, nested bool) {
		ast.Inspect(n, func(c ast.Node) bool {
			if found || c == nil || c == n {
				return !found
			}
			switch x := c.(type) {
			case *ast.FuncLit:
				return false
			case *ast.ForStmt, *ast.RangeStmt, *ast.SwitchStmt, *ast.TypeSwitchStmt, *ast.SelectStmt:
				walk(x, true)
				return false
			case *ast.BranchStmt:
				if x.Tok == token.BREAK && (x.Label != nil || !nested) || x.Tok == token.GOTO {
					found = true
				}
			}
			return true
		})
	}
	walk(body, false)
	return found
}

// compact prints the small expressions loop conditions are made of.
func compact(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.BasicLit:
		return x.Value
	case *ast.SelectorExpr:
		return compact(x.X) + "." + x.Sel.Name
	case *ast.CallExpr:
		args := make([]string, len(x.Args))
		for i, a := range x.Args {
			args[i] = compact(a)
		}
		return compact(x.Fun) + "(" + strings.Join(args, ", ") + ")"
	case *ast.BinaryExpr:
		return compact(x.X) + " " + x.Op.String() + " " + compact(x.Y)
	case *ast.ParenExpr:
		return "(" + compact(x.X) + ")"
	case *ast.UnaryExpr:
		return x.Op.String() + compact(x.X)
	case *ast.IndexExpr:
		return compact(x.X) + "[" + compact(x.Index) + "]"
	}
	return "…"
}
