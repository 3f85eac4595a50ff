package bench

import "fmt"

// OverloadFactor is how far past saturation the overload series push.
const OverloadFactor = 10

// maxProbe bounds the saturation search; probeOps is each probe's size.
const (
	maxProbe = 64
	probeOps = 600
)

// Names of the overload series.
func NameOverloadGrant(conc int) string {
	return fmt.Sprintf("overload: agent_checksum grant (IdP, SQLite), %d clients", conc)
}

func NameOverloadProxy(conc int) string {
	return fmt.Sprintf("overload: through `ajwt proxy` process, %d clients", conc)
}

const overloadNote = "errors exclude shed requests (429/503 with Retry-After); RSS: the server's largest at the end of a round"

// OverloadSeries finds, for the IdP (agent_checksum grants, SQLite) and
// for `ajwt proxy`, each in its own process, the concurrency past which
// more clients add no throughput (saturation), then measures both at
// saturation and at OverloadFactor times as many clients. Serving on
// under overload means no errors (a 429 or 503 with Retry-After is
// counted as shed), throughput that holds and a resident set that does
// not grow with the queue.
func OverloadSeries(cfg Config) ([]Series, func(), error) {
	return withStops(func(stops *[]func()) ([]Series, error) {
		idp, err := overloadIdP(cfg, stops)
		if err != nil {
			return nil, err
		}
		prx, err := overloadProxy(cfg, stops)
		return append(idp, prx...), err
	})
}

func overloadIdP(cfg Config, stops *[]func()) ([]Series, error) {
	over := cfg
	over.Concurrency = maxProbe * OverloadFactor // runs and idle connections for the largest load
	mint, stop, err := MintSeries(over, "SQLite, overload", "", "")
	if err != nil {
		return nil, err
	}
	*stops = append(*stops, stop)
	grant := mint[0] // the agent_checksum grant
	at := func(conc int) Series { s := grant; s.Concurrency = conc; return s }
	sat, err := saturation(cfg, "IdP", at)
	if err != nil {
		return nil, err
	}
	var ss []Series
	for _, conc := range []int{sat, sat * OverloadFactor} {
		s := at(conc)
		s.Name, s.Note = NameOverloadGrant(conc), fmt.Sprintf("saturation found at %d clients; %s", sat, overloadNote)
		ss = append(ss, s)
	}
	return ss, nil
}

func overloadProxy(cfg Config, stops *[]func()) ([]Series, error) {
	rig, err := newProxyRig(stops)
	if err != nil {
		return nil, err
	}
	prx, err := rig.start(cfg, cfg.Exe, "proxy-overload")
	if err != nil {
		return nil, err
	}
	hc := newHTTP(maxProbe * OverloadFactor)
	sat, err := saturation(cfg, "proxy", func(conc int) Series { return rig.through(prx, hc, "probe", conc, min(probeOps, cfg.Ops)) })
	if err != nil {
		return nil, err
	}
	var ss []Series
	for _, conc := range []int{sat, sat * OverloadFactor} {
		s := rig.through(prx, hc, NameOverloadProxy(conc), conc, cfg.Ops)
		s.Note = fmt.Sprintf("saturation found at %d clients; %s", sat, overloadNote)
		ss = append(ss, s)
	}
	return ss, nil
}

// saturation probes at 1, 2, 4 … maxProbe clients and returns the
// fewest whose throughput is within 10% of the best probe's.
func saturation(cfg Config, what string, at func(conc int) Series) (int, error) {
	type probe struct {
		conc int
		rate float64
	}
	var probes []probe
	best, n := 0.0, min(probeOps, cfg.Ops)
	for conc := 1; conc <= maxProbe; conc *= 2 {
		s := at(conc)
		if s.Prepare != nil {
			if err := s.Prepare(0, n); err != nil {
				return 0, err
			}
		}
		r := measure(s, 0, n)
		if r.errs > 0 {
			return 0, fmt.Errorf("bench: saturation probe of the %s at %d clients: %d errors", what, conc, r.errs)
		}
		rate := float64(n) / r.elapsed.Seconds()
		probes, best = append(probes, probe{conc, rate}), max(best, rate)
	}
	for _, p := range probes {
		if p.rate >= 0.9*best {
			cfg.Progress("%s saturates at %d clients (%.0f/s; best probe %.0f/s)", what, p.conc, p.rate, best)
			return p.conc, nil
		}
	}
	return maxProbe, nil
}
