/** @odoo-module **/

import { Component, onWillStart, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { deserializeDateTime, formatDateTime } from "@web/core/l10n/dates";
import { standardActionServiceProps } from "@web/webclient/actions/action_service";

/**
 * AP Sync Overview: one card per platform. Every figure comes from the server with the model and
 * domain that counted it (ap.sync.dashboard), so a click opens exactly the records behind it.
 */
export class ApSyncOverview extends Component {
    static template = "account_ap_sync.Overview";
    static props = { ...standardActionServiceProps };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.state = useState({ data: { platforms: [] }, loading: true });
        onWillStart(() => this.load());
    }

    async load() {
        this.state.loading = true;
        this.state.data = await this.orm.call("ap.sync.dashboard", "get_dashboard_data", []);
        this.state.loading = false;
    }

    /** Scheduled actions of the module that keep failing or being killed at their time limit. */
    get failingCrons() {
        return (this.state.data.crons || []).filter((cron) => cron.failing);
    }

    formatDate(value) {
        if (!value) {
            return _t("never");
        }
        return formatDateTime(deserializeDateTime(value));
    }

    open(figure) {
        if (!figure) {
            return;
        }
        if (figure.res_id) {
            return this.action.doAction({
                type: "ir.actions.act_window",
                name: figure.name,
                res_model: figure.model,
                res_id: figure.res_id,
                views: [[false, "form"]],
            });
        }
        return this.action.doAction({
            type: "ir.actions.act_window",
            name: figure.name,
            res_model: figure.model,
            domain: figure.domain,
            views: [
                [false, "list"],
                [false, "form"],
            ],
        });
    }
}

registry.category("actions").add("account_ap_sync.overview", ApSyncOverview);
