//go:build tools

package deps

import (
	_ "github.com/coder/websocket"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "github.com/nats-io/nats.go/micro"
	_ "github.com/rs/zerolog"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/shopspring/decimal"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/time/rate"
)
