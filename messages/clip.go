package messages

// MaxReportMessageLen bounds a report's message (human text, often a
// venue's answer): longer text is cut, so a report always fits a NATS
// message whatever a venue or an intent held.
const MaxReportMessageLen = 1024

// RefusalOf returns the report refusing an intent (rejected or expired,
// the order's first report: seq 1) or a cancel (cancel_rejected, seq 0)
// that it echoes only the validated client_order_id and strategy of, never
// the rest of what was sent, so a huge message makes a small report.
func RefusalOf(clientOrderID, strategy string, kind ReportKind, reason Reason, message string) ExecutionReport {
	r := ExecutionReport{Kind: kind, ClientOrderID: clientOrderID, Strategy: strategy,
		Status: StatusRejected, Reason: reason, Message: message, Seq: 1}
	switch kind {
	case KindExpired:
		r.Status = StatusExpired
	case KindCancelRejected:
		r.Status, r.Seq = "", 0
	}
	r.Clip()
	return r
}

// Clip cuts r's message to MaxReportMessageLen bytes (at a rune boundary,
// with an ellipsis).
func (r *ExecutionReport) Clip() {
	if len(r.Message) <= MaxReportMessageLen {
		return
	}
	cut := MaxReportMessageLen - len("...")
	for cut > 0 && r.Message[cut]&0xC0 == 0x80 {
		cut-- // do not split a UTF-8 sequence
	}
	r.Message = r.Message[:cut] + "..."
}
