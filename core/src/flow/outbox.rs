//! Request bookkeeping shared by the machines: ids, the queue of requests to send, and each
//! request's deadline, so that a stalled server becomes [`Failure::Timeout`] in core rather
//! than in each driver.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Failure, RequestId};
use crate::http::HttpRequest;
use crate::time::Time;

/// Requests to send and requests in flight, each tagged with what it was for.
#[derive(Debug)]
pub(crate) struct Outbox<T> {
    next: u32,
    queue: VecDeque<(RequestId, HttpRequest)>,
    in_flight: Vec<(RequestId, Time, T)>,
    timeout: Duration,
}

impl<T> Outbox<T> {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            next: 1,
            queue: VecDeque::new(),
            in_flight: Vec::new(),
            timeout,
        }
    }

    /// Queues `request`; it is due back within the request timeout of `now`.
    pub(crate) fn send(&mut self, now: Time, request: HttpRequest, tag: T) -> RequestId {
        let id = RequestId::new(self.next);
        self.next = self.next.wrapping_add(1).max(1);
        self.queue.push_back((id, request));
        self.in_flight.push((id, now.add(self.timeout), tag));
        id
    }

    pub(crate) fn pop(&mut self) -> Option<(RequestId, HttpRequest)> {
        self.queue.pop_front()
    }

    /// The tag of request `id`, which is no longer in flight; `None` for unknown or late ids.
    pub(crate) fn take(&mut self, id: RequestId) -> Option<T> {
        let at = self.in_flight.iter().position(|(i, _, _)| *i == id)?;
        Some(self.in_flight.swap_remove(at).2)
    }

    /// The earliest request deadline.
    pub(crate) fn deadline(&self) -> Option<Time> {
        self.in_flight.iter().map(|(_, at, _)| *at).min()
    }

    /// Removes the requests whose deadline is at or before `now`, as timed out.
    pub(crate) fn expired(&mut self, now: Time) -> Vec<(RequestId, T, Failure)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight.get(i).is_some_and(|(_, at, _)| *at <= now) {
                let (id, _, tag) = self.in_flight.swap_remove(i);
                self.queue.retain(|(q, _)| *q != id);
                out.push((id, tag, Failure::Timeout));
            } else {
                i += 1;
            }
        }
        out
    }

    /// Forgets every request (the machine is over).
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.in_flight.clear();
    }
}
