package bench

func Live(e *Env)      {}
func Footprint(e *Env) {}
func Scale(e *Env)     {}
