package db

import (
	"testing"
)

func TestAutoscaleStateIsKeptAndListedWithTheStatus(t *testing.T) {
	s, path := openTest(t)
	ctx := t.Context()
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutDesired(desired("default", "a", "/x/a.yaml"), "STOPPED") }); err != nil {
		t.Fatal(err)
	}
	c, err := s.Cluster(ctx, "default", "a")
	if err != nil || c.Autoscale != nil {
		t.Fatalf("new cluster: autoscale %q, err %v; want none", c.Autoscale, err)
	}
	const state = `{"count":3}`
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SetAutoscale("default", "a", []byte(state)) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, err := s.Cluster(ctx, "default", "a"); err != nil || string(c.Autoscale) != state {
		t.Errorf("after reopening: autoscale %q, err %v; want %s", c.Autoscale, err, state)
	}
	list, err := s.ClusterStatuses(ctx)
	if err != nil || len(list) != 1 || string(list[0].Autoscale) != state {
		t.Errorf("status listing: %+v, err %v; want the state", list, err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SetAutoscale("default", "a", nil) }); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Cluster(ctx, "default", "a"); c.Autoscale != nil {
		t.Errorf("cleared autoscale state reads %q", c.Autoscale)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SetAutoscale("default", "b", []byte(state)) }); err == nil {
		t.Error("SetAutoscale on an unknown cluster succeeded")
	}
}

func TestAutoscaleStateGoesWithItsCluster(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutDesired(desired("default", "a", "/x/a.yaml"), "STOPPED"); err != nil {
			return err
		}
		if err := tx.SetAutoscale("default", "a", []byte(`{"count":2}`)); err != nil {
			return err
		}
		if err := tx.MarkDeleted("default", "a"); err != nil {
			return err
		}
		return tx.Forget("default", "a")
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM autoscale`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d autoscaler rows (err %v) after the cluster was forgotten, want 0", n, err)
	}
}
