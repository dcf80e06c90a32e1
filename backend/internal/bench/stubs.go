package bench

func Claim(e *Env)     {}
func Logs(e *Env)      {}
func Submit(e *Env)    {}
func Webhook(e *Env)   {}
func Live(e *Env)      {}
func Footprint(e *Env) {}
func Scale(e *Env)     {}
