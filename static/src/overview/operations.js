/** @odoo-module **/

import { patch } from "@web/core/utils/patch";
import { ApSyncOverview } from "./overview";

/**
 * Overview, operations part: service levels per data domain, the last reconciliation of each
 * platform, business-metric charts (by platform, company or vendor, over a period) and the runbooks.
 * Added by patch, so the Overview's own code stays as it is.
 */
patch(ApSyncOverview.prototype, {
    setup() {
        super.setup(...arguments);
        this.state.periodDays = 30;
        this.state.groupBy = "by_platform";
    },

    async load() {
        this.state.loading = true;
        this.state.data = await this.orm.call("ap.sync.dashboard", "get_dashboard_data", [], {
            context: { ap_sync_period_days: this.state.periodDays || 30 },
        });
        this.state.loading = false;
    },

    async setPeriod(days) {
        this.state.periodDays = days;
        await this.load();
    },

    setGroupBy(key) {
        this.state.groupBy = key;
    },

    openMetric(row, kind) {
        const metrics = this.state.data.operations.metrics;
        const domain = [...row.domain];
        if (kind) {
            domain.push(["kind", "=", kind]);
        }
        return this.action.doAction({
            type: "ir.actions.act_window",
            name: row.label,
            res_model: metrics.model,
            domain,
            views: [
                [false, "pivot"],
                [false, "graph"],
                [false, "list"],
            ],
        });
    },

    openException(figure) {
        return this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "ap.sync.exception",
            res_id: figure.exception_id,
            views: [[false, "form"]],
        });
    },
});
