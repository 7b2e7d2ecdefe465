//go:build deps

// Package flinkd pins, while the tree is being built, every module the design chose, so that
// go.mod and go.sum hold them all and parallel work never edits go.mod. Removed once every
// dependency has a real importer.
package flinkd

import (
	_ "github.com/docker/docker/client"
	_ "github.com/docker/docker/pkg/jsonmessage"
	_ "github.com/docker/docker/pkg/stdcopy"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/spf13/cobra"
	_ "github.com/testcontainers/testcontainers-go"
	_ "golang.org/x/sync/errgroup"
	_ "k8s.io/api/apps/v1"
	_ "k8s.io/apimachinery/pkg/api/resource"
	_ "k8s.io/apimachinery/pkg/util/validation/field"
	_ "k8s.io/client-go/applyconfigurations/apps/v1"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "k8s.io/client-go/util/workqueue"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "sigs.k8s.io/yaml"
)
