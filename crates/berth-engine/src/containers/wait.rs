//! `POST /containers/{id}/wait`: validated now (404 for an unknown container), then a
//! blocking closure that waits on the container's condvar for the condition.

use std::sync::Arc;
use std::time::Duration;

use berth_api_types::container::ContainerWaitResponse;

use super::Inner;
use crate::api::{EngineResult, WaitCondition, Waiter};
use crate::store::Status;

impl Inner {
    pub fn wait(self: &Arc<Self>, r: &str, cond: WaitCondition) -> EngineResult<Waiter> {
        let c = self.get(r)?;
        let (exits0, starts0) = {
            let g = c.lock();
            (g.exits, g.starts)
        };
        Ok(Box::new(move || {
            let mut g = c.lock();
            loop {
                let st = g.rec.state.status;
                let done = match cond {
                    WaitCondition::NotRunning => {
                        g.removed
                            || !(st.is_running() || st == Status::Restarting)
                            || g.exits > exits0 && g.starts == starts0
                    }
                    WaitCondition::NextExit => g.removed || g.exits > exits0,
                    WaitCondition::Removed => g.removed,
                };
                if done {
                    return Ok(ContainerWaitResponse {
                        status_code: g.rec.state.exit_code,
                        error: None,
                    });
                }
                g = c.wait_timeout(g, Duration::from_secs(3600));
            }
        }))
    }
}
