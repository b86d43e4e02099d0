package main

// pipeTarget is a pipe name as package namedpipe takes it: a short name,
// or a \\.\pipe\ (or \\host\pipe\) path.
func pipeTarget(name string, fromPipeForm bool) (target, error) {
	if fromPipeForm {
		return target{"pipe", `\\.\pipe\` + name}, nil
	}
	return target{"pipe", name}, nil
}
