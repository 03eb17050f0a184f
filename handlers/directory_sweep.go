package handlers

import (
	"context"
	"errors"

	"gatehouse/models"
	"gatehouse/views"
)

// directorySweep is the directory sweep's block of the dashboard: the round in progress, the last
// finished one and when the next is due.
func (h *Handlers) directorySweep(ctx context.Context) (views.DirectorySweepData, error) {
	d := views.DirectorySweepData{Every: h.DirectorySync, Now: h.Now().UTC()}
	if d.Every <= 0 {
		return d, nil
	}
	latest, err := h.Store.LatestSweepRound(ctx)
	if errors.Is(err, models.ErrNotFound) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	if latest.FinishedAt == nil {
		d.Current = &latest
		if d.Paused, err = h.Store.PausedSweeps(ctx, d.Now); err != nil {
			return d, err
		}
	} else {
		d.Next = latest.StartedAt.Add(d.Every)
	}
	last, err := h.Store.LastFinishedSweepRound(ctx)
	if errors.Is(err, models.ErrNotFound) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	d.Last = &last
	return d, nil
}
