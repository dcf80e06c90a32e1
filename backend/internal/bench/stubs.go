package bench

func Footprint(e *Env) {}
func Scale(e *Env)     {}
