package alert

import (
	"context"
	"errors"
	"time"

	"github.com/musclemap/buildnet/buildnet"
)

// channel is one configured notification channel and its queue.
type channel struct {
	name   string
	typ    string
	common ChannelCommon
	n      buildnet.Notifier
	queue  chan *job
	stats  ChannelStats // guarded by Alerter.mu
}

// job is one alert to deliver to one channel.
type job struct {
	rec *Record
	idx int // of the channel's Delivery in rec.Deliveries
	n   buildnet.Notification
}

// deliver is a channel's worker: it sends queued alerts one at a time,
// retrying each with exponential backoff, until the alerter closes.
func (a *Alerter) deliver(ch *channel) {
	for {
		select {
		case <-a.ctx.Done():
			return
		case j := <-ch.queue:
			a.attempts(ch, j)
		}
	}
}

// attempts sends j, retrying as the channel allows.
func (a *Alerter) attempts(ch *channel, j *job) {
	retries, backoff := ch.common.retries(), ch.common.backoff()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(a.ctx, ch.common.timeout())
		err := ch.n.Notify(ctx, j.n)
		cancel()
		err = a.redact.error(err)
		a.mu.Lock()
		ch.stats.Attempts++
		d := &j.rec.Deliveries[j.idx]
		d.Attempts = attempt
		d.UpdatedAt = a.now()
		if err != nil {
			ch.stats.AttemptErrors++
			d.Error = err.Error()
		}
		a.mu.Unlock()
		if err == nil {
			a.finish(ch, j, DeliveryDelivered, "")
			return
		}
		if a.ctx.Err() != nil {
			a.finish(ch, j, DeliveryDropped, err.Error()+" (alerter closed)")
			return
		}
		last := attempt > retries || errors.Is(err, ErrPermanent)
		a.log.Warn("alert delivery failed", "channel", ch.name, "type", ch.typ, "rule", j.rec.Rule, "alert_id", j.rec.ID,
			"attempt", attempt, "retry", !last, "err", err)
		if last {
			a.finish(ch, j, DeliveryFailed, err.Error())
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-a.ctx.Done():
			t.Stop()
			a.finish(ch, j, DeliveryDropped, err.Error()+" (alerter closed)")
			return
		case <-t.C:
		}
		backoff = min(2*backoff, MaxBackoff)
	}
}

// finish records j's final status.
func (a *Alerter) finish(ch *channel, j *job, status DeliveryStatus, errText string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := &j.rec.Deliveries[j.idx]
	d.Status = status
	d.UpdatedAt = a.now()
	if status == DeliveryDelivered {
		d.Error = ""
	} else if errText != "" {
		d.Error = errText
	}
	switch status {
	case DeliveryDelivered:
		ch.stats.Delivered++
	case DeliveryFailed:
		ch.stats.Failed++
	case DeliveryDropped:
		ch.stats.Dropped++
	}
}
