package daemon

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/runtime"
)

// handleOthers lists the flinkd-labelled clusters of every target that this daemon's
// identity does not own (runtime.Census): another flinkd's, or one a lost identity left.
func (d *Daemon) handleOthers(w http.ResponseWriter, r *http.Request) {
	out := api.Others{Clusters: []api.OtherCluster{}}
	for _, t := range d.cfg.Targets {
		census, ok := t.Runtime.(runtime.Census)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		claims, err := census.Foreign(ctx)
		cancel()
		if err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("target %s: %v", t.Name, err))
			continue
		}
		for _, c := range claims {
			out.Clusters = append(out.Clusters, api.OtherCluster{Target: t.Name, Namespace: c.Key.Namespace,
				Name: c.Key.Name, Owner: c.Owner, Specs: c.Specs})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
