package binancesim_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors/binancesim"
)

// A client signs the query string with its secret, as on Binance.
func Example() {
	srv, err := binancesim.New(binancesim.DefaultConfig())
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}

	q := url.Values{}
	q.Set("symbol", "BTCUSDT")
	q.Set("side", "BUY")
	q.Set("type", "LIMIT")
	q.Set("timeInForce", "GTC")
	q.Set("quantity", "0.01")
	q.Set("price", "50000")
	q.Set("newClientOrderId", "example-1")
	q.Set("newOrderRespType", "ACK")
	q.Set("timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	mac := hmac.New(sha256.New, []byte("acct1-secret"))
	mac.Write([]byte(q.Encode()))
	body := q.Encode() + "&signature=" + hex.EncodeToString(mac.Sum(nil))

	req, _ := http.NewRequest(http.MethodPost, base+"/api/v3/order", strings.NewReader(body))
	req.Header.Set("X-MBX-APIKEY", "acct1-key")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get("X-MBX-ORDER-COUNT-10S"), strings.Contains(string(b), `"clientOrderId":"example-1"`))
	// Output: 200 1 true
}
