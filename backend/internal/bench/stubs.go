package bench

func Webhook(e *Env)   {}
func Live(e *Env)      {}
func Footprint(e *Env) {}
func Scale(e *Env)     {}
