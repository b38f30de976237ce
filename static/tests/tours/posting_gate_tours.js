/** @odoo-module **/

import { registry } from "@web/core/registry";

/** A manager overrides the posting gate of a changed bill with a reason, then posts it. */
registry.category("web_tour.tours").add("account_ap_sync_posting_gate_override", {
    steps: () => [
        {
            content: "The bill says what differs from the approved document",
            trigger: '.o_ap_sync_gate:contains("Total: bill")',
        },
        {
            content: "Override the posting gate",
            trigger: '.o_form_view button[name="action_open_ap_gate_override"]',
            run: "click",
        },
        {
            content: "The wizard repeats the differences",
            trigger: '.modal .o_field_widget[name="problems"]:contains("Untaxed amount")',
        },
        {
            content: "Write down why",
            trigger: '.modal .o_field_widget[name="reason"] textarea',
            run: "edit Freight agreed with the vendor on 3 Nov",
        },
        {
            content: "Confirm the override",
            trigger: '.modal-footer button[name="action_confirm"]',
            run: "click",
        },
        {
            content: "The override and its reason show on the bill",
            trigger: '.o_ap_sync_gate:contains("Freight agreed with the vendor on 3 Nov")',
        },
        {
            content: "Post the bill",
            trigger: '.o_statusbar_buttons button[name="action_post"]:not(.d-none)',
            run: "click",
        },
        {
            content: "The bill is posted",
            trigger: '.o_form_view .o_statusbar_status button.o_arrow_button_current:contains("Posted")',
        },
    ],
});
